"""`roadmap recipe NAME`: a recipe's settings, each with its value and its meaning."""
from __future__ import annotations


def register(sub, name: str, help: str):
    s = sub.add_parser(name, help=help, description="Print every setting of a recipe (a shipped name or a YAML "
                                                    "path) with its value and meaning; change any of them with "
                                                    "`roadmap run --set KEY=VALUE`.")
    s.add_argument("recipe", nargs="?", default="smoke",
                   help="smoke (default), cpu-proxy, proxy, imagenet, convmixer-cifar10 or a YAML path")
    s.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                   help="show the recipe with this override applied (repeatable)")
    s.set_defaults(fn=show)


def show(a) -> int:
    from roadmap.train.recipe import SCHEMA, load_recipe

    r = load_recipe(a.recipe, a.overrides)
    print(f"recipe {r.name}  (hash {r.hash})")
    import yaml

    # values as YAML: what a recipe file or --set would say
    values = {key: yaml.safe_dump(r.get(key), default_flow_style=True, width=1000).strip().removesuffix("...").strip()
              for key in SCHEMA}
    width, value_width = max(map(len, SCHEMA)), max(map(len, values.values()))
    for key, (_, meaning) in SCHEMA.items():
        print(f"  {key:<{width}}  {values[key]:<{value_width}}  {meaning}")
    return 0
