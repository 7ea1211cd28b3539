"""Runs layer: train a roadmap's variants into a results folder, and measure their speed.

`runner` (caching, resume, failures), `table` (the one owner of results.csv, epochs.csv and
run.json), `lock`, `launch` (submitit: Slurm or local jobs), `bench` and `progress`.
"""
