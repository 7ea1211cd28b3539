"""Training layer: one model, one recipe, one dataset -> metrics. Knows nothing about architectures.

`loop` (the epoch loop with exact resume), `recipe` (+ the shipped `recipes/*.yaml`), `augment`
(image transforms), `data` (every data source) and `distributed` (torchrun / Slurm process groups).
"""
