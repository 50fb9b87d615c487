"""Identity resolution outside SQL: the graph, probabilistic matching, review, metrics and benchmarks."""
