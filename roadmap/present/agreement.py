"""How far a reproduced run agrees with the paper: the two numbers the README's reading quotes.

- Rank: Spearman's rho between the per-step mean top-1 and the paper's (Table 10), over the steps
  with both. It asks whether the steps are ordered alike, whatever the scale of the accuracies.
- Signs: of the step changes our seeds resolve (paired 95% interval excludes 0), how many go the
  paper's way. A paper change of exactly 0 (kernel 9) has no sign and is not counted; the count is
  also given for the changes the paper's own 3 seeds resolve (Welch, see roadmap.present.stats).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from scipy import stats


@dataclass
class Agreement:
    n_steps: int          # steps with our mean and the paper's top-1
    rho: float            # Spearman's rank correlation of the two (nan with fewer than 3 steps)
    rho_p: float          # its two-sided p-value (no correlation as the null)
    resolved: int         # our resolved step changes (with a paper change of some sign)
    same_sign: int        # ... of which go the paper's way
    both_resolved: int    # resolved by us and by the paper's seeds
    both_same_sign: int   # ... of which go the same way

    def sentence(self) -> str:
        rank = (f"Spearman ρ of the per-step means against the paper's top-1 = {self.rho:.2f} "
                f"(p = {self.rho_p:.2g}, {self.n_steps} steps)") if not math.isnan(self.rho) else \
            f"too few steps with the paper's top-1 for a rank correlation ({self.n_steps})"
        return (f"Agreement with the paper: {rank}; of the {self.resolved} step changes resolved here, "
                f"{self.same_sign} have the paper's sign ({self.both_same_sign} of the {self.both_resolved} "
                f"the paper's seeds resolve too).")


def agreement(report: pd.DataFrame) -> Agreement:
    """From roadmap.present.report.report_table's rows of one regime."""
    ok = report[report["top1_mean"].notna() & report["paper_top1"].notna()]
    rho, p = (stats.spearmanr(ok["top1_mean"], ok["paper_top1"]) if len(ok) >= 3 else (math.nan, math.nan))
    ch = report[(report["resolved"] == True) & report["paper_delta"].notna() & (report["paper_delta"] != 0)]  # noqa: E712
    same = (ch["delta"] > 0) == (ch["paper_delta"] > 0)
    both = ch["paper_resolved"] == True  # noqa: E712
    return Agreement(n_steps=len(ok), rho=float(rho), rho_p=float(p), resolved=len(ch), same_sign=int(same.sum()),
                     both_resolved=int(both.sum()), both_same_sign=int((same & both).sum()))
