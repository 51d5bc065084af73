// The quiver service: named collections of vectors with attributes, served over
// TFramedTransport + TBinaryProtocol by quiver-server (api/server.h). Every request is
// validated; bad input is answered with one of the typed exceptions below, never by
// dropping the connection.
//
// Ids are non-negative i64 (the engine's uint64 ids below 2^63). Vectors travel as
// double for the sake of clients without a float type and are stored as float32; a
// component that is not finite, or does not fit a float, is rejected.

namespace cpp quiver.rpc
namespace py quiver_rpc

enum Metric {
  L2 = 0,             // squared Euclidean distance, smaller is better
  INNER_PRODUCT = 1,  // larger is better
  COSINE = 2,         // cosine similarity, larger is better
}

// One attribute value; exactly one field is set. A tag list is a set (read back
// sorted, without duplicates). Each attribute name has one type per collection, fixed
// by its first value.
union AttributeValue {
  1: string s,
  2: i64 i,
  3: double d,
  4: list<string> tags,
}

struct Record {
  1: i64 id,
  2: list<double> vector,
  // Replaces every previous attribute of the id. Names: [A-Za-z_][A-Za-z0-9_.]*.
  3: map<string, AttributeValue> attributes,
}

struct SearchRequest {
  1: list<double> vector,
  2: i32 k = 10,                 // in [1, 10000]
  3: i32 ef = 0,                 // search window in [1, 100000]; 0: max(64, k); below k, the best k scored come back
  // Attribute filter, applied inside the graph walk, e.g.
  //   label = 3 AND tags CONTAINS "sale" AND NOT brand IN ("a", "b")
  // Empty: no filter.
  4: string filter = "",
  // Hits whose calibrated relevance is below this are dropped; in [0, 1]. Above 0
  // needs a relevance filter attached to the collection.
  5: double min_relevance = 0.0,
  6: bool with_attributes = false,
}

struct Hit {
  1: i64 id,
  // L2: squared distance; INNER_PRODUCT, COSINE: the similarity. Best first.
  2: double score,
  // Calibrated probability of relevance; -1 when the collection has no relevance filter.
  3: double relevance,
  // Set when the request asked for attributes and the id has any.
  4: optional map<string, AttributeValue> attributes,
}

struct CollectionStats {
  1: string name,
  2: string spec,              // canonical spec string, e.g. "hnsw32,efc200,f32"
  3: Metric metric,
  4: i32 dim,
  5: i64 size,                 // live vectors
  6: i64 deleted,              // tombstones awaiting compaction
  7: i64 memory_bytes,
  8: i64 last_sequence,        // sequence number of the newest acknowledged write
  9: i64 checkpoint_sequence,  // newest write the on-disk index checkpoint covers
  10: i64 log_entries,         // writes logged since that checkpoint
  11: bool has_relevance_filter,
  12: string index_recovery,   // why the last open rebuilt the index from the stored vectors; empty: it did not
  // Attention graphs: keys linked by insertion since the graph was last learned from
  // the sample queries (a checkpoint or compact learns it again); 0 for HNSW.
  13: i64 inserted_since_learned,
}

struct ServerStats {
  1: i64 uptime_ms,
  2: i64 requests,             // since start-up, all methods
  3: i64 errors,               // requests answered with an exception
  4: i32 worker_threads,
  5: i32 max_batch,
  6: list<CollectionStats> collections,
}

struct Health {
  1: bool serving,             // false while the server is shutting down
  2: i32 collections,
  3: i64 uptime_ms,
}

// A request field is out of range or malformed: wrong dimension, NaN, k or ef out of
// bounds, a bad filter expression, a bad collection name or spec.
exception InvalidArgument {
  1: string message,
}

// The collection (or, for get, the id) does not exist.
exception NotFound {
  1: string message,
}

// A collection of that name exists already.
exception Conflict {
  1: string message,
}

// The server cannot serve the request now: it is shutting down, or a collection's
// files could not be read or written. Retrying later, or elsewhere, may succeed.
exception Unavailable {
  1: string message,
}

service Quiver {
  // `spec` as in IndexSpec::parse, e.g. "hnsw16,efc100,f32"; empty: the defaults.
  void create_collection(1: string name, 2: string spec, 3: Metric metric, 4: i32 dim)
      throws (1: InvalidArgument invalid, 2: NotFound not_found, 3: Conflict conflict, 4: Unavailable unavailable),
  // For an attention graph ("attn<M>…"), which learns its links from sample queries so
  // that queries unlike the stored vectors still find them. `sample_queries` holds at
  // least 100 queries from the distribution the collection will serve, as little-endian
  // float32, row after row of `dim` values (20,000 x 128 is 10 MB: mind the server's
  // max-frame-bytes). Upserted vectors are linked as they come; a checkpoint learns the
  // graph again once a tenth of them is new (quiver-server --relearn-inserted-fraction),
  // and compact() does so at once.
  void create_collection_with_sample_queries(1: string name, 2: string spec, 3: Metric metric, 4: i32 dim,
                                             5: binary sample_queries)
      throws (1: InvalidArgument invalid, 2: NotFound not_found, 3: Conflict conflict, 4: Unavailable unavailable),
  void drop_collection(1: string name)
      throws (1: InvalidArgument invalid, 2: NotFound not_found, 3: Conflict conflict, 4: Unavailable unavailable),
  list<string> list_collections()
      throws (1: InvalidArgument invalid, 2: NotFound not_found, 3: Conflict conflict, 4: Unavailable unavailable),
  CollectionStats describe_collection(1: string name)
      throws (1: InvalidArgument invalid, 2: NotFound not_found, 3: Conflict conflict, 4: Unavailable unavailable),

  // Durable when it returns (survives kill -9). All records are validated before any is
  // written; returns the sequence number of the batch.
  i64 upsert(1: string collection, 2: list<Record> records)
      throws (1: InvalidArgument invalid, 2: NotFound not_found, 3: Conflict conflict, 4: Unavailable unavailable),
  // ("delete" is a reserved word in Thrift.) Unknown ids are skipped; returns how many
  // were removed.
  i64 remove(1: string collection, 2: list<i64> ids)
      throws (1: InvalidArgument invalid, 2: NotFound not_found, 3: Conflict conflict, 4: Unavailable unavailable),
  // NotFound when the id is not live.
  Record get(1: string collection, 2: i64 id)
      throws (1: InvalidArgument invalid, 2: NotFound not_found, 3: Conflict conflict, 4: Unavailable unavailable),

  list<Hit> search(1: string collection, 2: SearchRequest request)
      throws (1: InvalidArgument invalid, 2: NotFound not_found, 3: Conflict conflict, 4: Unavailable unavailable),
  // One result list per request, in order. A bad request fails the whole batch.
  list<list<Hit>> search_batch(1: string collection, 2: list<SearchRequest> requests)
      throws (1: InvalidArgument invalid, 2: NotFound not_found, 3: Conflict conflict, 4: Unavailable unavailable),

  // Attaches a relevance filter to the collection: `filter_file` holds the bytes of a
  // file that `quiver train-filter` wrote. Hits then carry a calibrated relevance and
  // min_relevance can cut them; the filter is saved with the collection and replaces
  // any earlier one. InvalidArgument when the file is corrupt or was trained for
  // another dimension or metric.
  void set_relevance_filter(1: string collection, 2: binary filter_file)
      throws (1: InvalidArgument invalid, 2: NotFound not_found, 3: Conflict conflict, 4: Unavailable unavailable),
  // Detaches the collection's relevance filter (durably): hits carry relevance -1 again
  // and min_relevance above 0 is refused. Returns whether a filter was attached.
  bool clear_relevance_filter(1: string collection)
      throws (1: InvalidArgument invalid, 2: NotFound not_found, 3: Conflict conflict, 4: Unavailable unavailable),
  // Drops the collection's tombstones now (checkpoints also do once they reach 20 % of
  // it, quiver-server --compact-deleted-fraction) and takes a checkpoint. Searches go on
  // meanwhile; writes wait. Returns how many tombstones were dropped.
  i64 compact(1: string collection)
      throws (1: InvalidArgument invalid, 2: NotFound not_found, 3: Conflict conflict, 4: Unavailable unavailable),

  ServerStats stats()
      throws (1: InvalidArgument invalid, 2: NotFound not_found, 3: Conflict conflict, 4: Unavailable unavailable),
  Health health(),
}
