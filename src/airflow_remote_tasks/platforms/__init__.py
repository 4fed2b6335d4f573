"""One package per platform, each holding that platform's whole wire protocol and nothing else."""
