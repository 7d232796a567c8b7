// The storage table's shape and the stored defining query: kept in step when a query changes
// (alter_stream_table) or a source changes under it (REINITIALIZE).
#pragma once

#include "analyze/query_analysis.hpp"
#include "pgt_catalog/catalog.hpp"

namespace pgtrickle::refresh {

// Brings the storage columns to the query's output: columns whose name and type are unchanged
// stay (with their indexes and grants), the others are dropped and the new ones added. Empties
// the table when the shape changes (the caller repopulates it). Returns whether it changed.
// Runs as the caller, which must be inside AsQueryOwner(st.owner) (the DELETE fires the owner's
// triggers); C++ regime; needs SPI.
bool ReshapeStorage(const catalog::StreamTable &st, const analyze::AnalyzedQuery &query);

// Stream tables reading st must still be valid after its shape changed: 2BP01 otherwise.
// Each reader's query is planned as that reader's owner in a security-restricted operation.
void CheckReaders(const catalog::StreamTable &st);

// Stores the query (defining_query, defining_tree, output_columns) and the columns it reads.
void RecordQuery(std::int64_t pgt_id, const analyze::AnalyzedQuery &query,
                 const std::string *original_query);

} // namespace pgtrickle::refresh
