"""Tracing wing: the batched hook tracer, the RoutingTrace type, word alignment and the trace cache."""
