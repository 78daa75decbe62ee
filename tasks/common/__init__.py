"""What every domain shares: paths, params, runtime, I/O, metrics and the registry."""
