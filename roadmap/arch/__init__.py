"""Architecture layer: roadmap files -> steps -> specs -> modules, and their complexity.

`spec` (plain data), `bases` (seed architectures), `transforms` (the steps), `steps` (roadmap
files), `scale` (build-time multipliers), `network` + `layers` + `tokens` (the builder) and
`complexity`. Nothing here knows about training.
"""
