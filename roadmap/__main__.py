from roadmap.cli import main

if __name__ == "__main__":  # not when a spawned pool worker (no fork server) imports its parent's main module
    raise SystemExit(main())
