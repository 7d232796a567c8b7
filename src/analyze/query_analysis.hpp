// Validation and analysis of a stream table's defining query: one plain SELECT, its output
// columns and the relations it reads. PostgreSQL's own parser and analyzer do the work.
#pragma once

#include <string>
#include <vector>

extern "C" {
#include "postgres.h"
}

namespace pgtrickle::analyze {

struct SourceRelation {
	Oid relid;
	char relkind;                     // pg_class.relkind
	std::vector<std::string> columns; // columns the query reads (all of them for whole-row use)
};

struct OutputColumn {
	std::string name;
	std::string type_sql; // type with typmod and, when not the type's default, COLLATE
};

struct AnalyzedQuery {
	std::string text; // deparsed with every name schema-qualified (stored as defining_query)
	std::vector<SourceRelation> sources; // distinct, in order of first appearance
	std::vector<OutputColumn> columns;
	std::string tree; // nodeToString of the analyzed query: survives renames of what it reads
};

// A column type as the storage table's CREATE TABLE names it (under the pinned search_path):
// type with typmod and, when not the type's default, COLLATE. C++ regime.
std::string TypeSql(Oid type, int typmod, Oid collation);

// The live columns of a storage table, named like AnalyzeQuery names the query's output columns
// (TypeSql), so that the two compare equal when the shape did not change. C++ regime.
std::vector<OutputColumn> StorageColumns(Oid relid);

// The query a stored tree means today (renamed tables and columns print with their new names),
// deparsed like AnalyzeQuery does. C++ regime.
std::string DeparseTree(const std::string &tree);

// Parses and analyzes query as the current user, checks privileges by planning and starting it
// with LIMIT 0, and rejects what a stream table cannot hold (several statements, non-SELECT,
// FOR UPDATE/SHARE, SELECT INTO, data-modifying WITH, temporary sources, no columns).
// self_schema/self_name: the stream table being created; a reference to it is reported as a
// cycle. C++ regime; needs SPI.
AnalyzedQuery AnalyzeQuery(const std::string &query, const std::string &self_schema,
                           const std::string &self_name);

} // namespace pgtrickle::analyze
