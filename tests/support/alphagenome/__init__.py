"""A local AlphaGenome service: synthetic tracks, scriptable faults, the gRPC server."""
