"""Platform-neutral core: phases, run references, errors, operations and their executors."""
