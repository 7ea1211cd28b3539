"""CLI sub-commands, one module each; every module exposes register(subparsers)."""

ROADMAP_HELP = "a shipped roadmap (convnext-t, convnext-b, ...) or a path to your own roadmap YAML"
