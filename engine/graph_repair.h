// Keeps every live node of an hnswlib graph reachable from the entry point at level 0.
// hnswlib's insert links a new node to its neighbours and then lets each full neighbour
// re-select its list with the pruning heuristic, which may drop the link back to the
// new node (or to an older one). A node whose in-links all go, or a group of nodes
// linked only among themselves, can then never be found by any search: at 32 dims and
// M = 8 this hits about 1 % of the nodes, and at M = 16 a few in ten thousand.
#pragma once

#include <cstddef>

#include "engine/graph_search.h"

namespace quiver::engine {

struct GraphRepair {
  std::size_t unreachable = 0;  // live nodes found unreachable at level 0
  std::size_t relinked = 0;     // in-links added to reach them
  std::size_t left = 0;         // live nodes still unreachable after the repair
};

// How reconnect() links in a node no walk reaches.
enum class CutOffNodes {
  // From the nearest reachable node that can take the link, found among its out-neighbours
  // and theirs and by a greedy search for it: where searches should find the node.
  linked_from_nearest_host,
  // Off each other: the first near a host is linked from it and anchors a tree there;
  // later ones whose nearest hosts anchor a tree join it, level by level, and the search
  // runs only where none of a node's out-neighbours and theirs is reached. For a learned
  // attention graph, whose sample queries never led to these nodes: where a few hub keys
  // top every query and almost every key is cut off, linking each from its nearest host
  // fills the hubs' lists, which every walk reads, with keys the queries do not need.
  hung_in_trees,
};

// Walks level 0 from the entry point (O(elements x M0)); each live node the walk
// misses gets an in-link from a reachable node near it, as `cut_off` says: appended into
// a free slot (hosts with one first, nearest first), or in place of the host's farthest
// neighbour among those with another in-link. A replacement can cut off the node it
// drops, so the walk repeats, a few rounds at most; a node still missed then gets an
// in-link from some reached node with a free slot, the nearest of a bounded sample.
// Tombstoned nodes need not be reached. The host searches run on `threads` threads
// (0 = one per hardware thread); the result does not depend on how many. The caller
// holds the graph exclusively.
GraphRepair reconnect(Graph& graph, std::size_t threads,
                      CutOffNodes cut_off = CutOffNodes::linked_from_nearest_host);

// The cheap check after a small insert, O(M0^2) per node: each live node of internal
// ids [first, last) that none of its out-neighbours links back to gets an in-link from
// the nearest of them (a free slot, or in place of a neighbour that keeps another
// in-link among its own out-neighbours). Nodes that later inserts cut off are left to
// the next reconnect(). Returns how many nodes it linked in.
std::size_t link_new_nodes(Graph& graph, hnswlib::tableint first, hnswlib::tableint last);

}  // namespace quiver::engine
