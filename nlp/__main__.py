from .cli import main

# guarded: processes started with "spawn" (Dask's workers) import this module again
if __name__ == "__main__":
    raise SystemExit(main())
