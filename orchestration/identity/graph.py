"""Connected components of the identity graph with scipy (union-find in C over the edge list), shared
by the DuckDB Python models int_identity__components and int_identity__deterministic_components."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def smallest_node_labels(node_ids: np.ndarray, node_id_a: np.ndarray, node_id_b: np.ndarray) -> np.ndarray:
    """For each of `node_ids`, the smallest node_id of its component over the edges (a, b)."""
    node_ids = np.asarray(node_ids, dtype=np.int64)
    a = np.asarray(node_id_a, dtype=np.int64)
    b = np.asarray(node_id_b, dtype=np.int64)
    size = int(node_ids.max()) + 1 if len(node_ids) else 1
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(size, size)).tocsr()
    n_components, labels = connected_components(graph, directed=False)
    # The matrix is indexed by node_id, so a component's smallest node_id is the first position of its
    # label. scipy numbers components in order of first appearance, so those positions are where the
    # label exceeds the running maximum: O(n), where np.unique would sort.
    first = np.empty(len(labels), dtype=bool)
    first[0] = True
    first[1:] = labels[1:] > np.maximum.accumulate(labels)[:-1]
    smallest = np.flatnonzero(first)
    if len(smallest) != n_components or not np.array_equal(labels[smallest], np.arange(n_components)):
        smallest = np.full(n_components, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(smallest, labels, np.arange(len(labels), dtype=np.int64))
    return smallest[labels[node_ids]].astype(np.int64)
