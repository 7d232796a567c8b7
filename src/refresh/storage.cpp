// Storage shape and stored query (see storage.hpp).
#include "refresh/storage.hpp"

#include "bridge/guard.hpp"
#include "bridge/security.hpp"
#include "bridge/spi.hpp"
#include "capture/capture.hpp"
#include "refresh/write_guard.hpp"

#include <algorithm>

namespace pgtrickle::refresh {

using bridge::QuoteIdent;
using bridge::SpiExec;
using bridge::Value;

namespace {

std::string TextArray(const std::vector<std::string> &items) {
	std::string out = "{";
	for (std::size_t i = 0; i < items.size(); i++) {
		std::string escaped;
		for (char c : items[i]) {
			if (c == '"' || c == '\\') {
				escaped += '\\';
			}
			escaped += c;
		}
		out += (i ? ",\"" : "\"") + escaped + "\"";
	}
	return out + "}";
}

} // namespace

bool ReshapeStorage(const catalog::StreamTable &st, const analyze::AnalyzedQuery &query) {
	// Compared with the names AnalyzeQuery gives (type, typmod and COLLATE, named under the pinned
	// search_path): a column with a non-default collation is the same column, not a new one.
	std::vector<analyze::OutputColumn> current = analyze::StorageColumns(st.relid);
	auto same = [](const analyze::OutputColumn &stored, const analyze::OutputColumn &column) {
		return stored.name == column.name && stored.type_sql == column.type_sql;
	};
	bool identical = current.size() == query.columns.size();
	for (std::size_t i = 0; identical && i < query.columns.size(); i++) {
		identical = same(current[i], query.columns[i]);
	}
	if (identical) {
		return false;
	}
	std::vector<std::string> actions;
	for (const auto &stored : current) {
		bool keep = std::any_of(query.columns.begin(), query.columns.end(),
		                        [&](const auto &c) { return same(stored, c); });
		if (!keep) {
			actions.push_back("DROP COLUMN " + QuoteIdent(stored.name));
		}
	}
	for (const auto &column : query.columns) {
		bool kept = false;
		for (const auto &stored : current) {
			kept = kept || same(stored, column);
		}
		if (!kept) {
			actions.push_back("ADD COLUMN " + QuoteIdent(column.name) + " " + column.type_sql);
		}
	}
	{
		InternalWriteScope writing(st.relid);
		SpiExec("DELETE FROM " + st.Qualified());
	}
	std::string alter = "ALTER TABLE " + st.Qualified() + " ";
	for (std::size_t i = 0; i < actions.size(); i++) {
		alter += (i ? ", " : "") + actions[i];
	}
	if (!actions.empty()) {
		SpiExec(alter);
	}
	// The storage is a captured source of the stream tables reading this one: whatever its
	// buffer holds for them (the rows deleted above, in the old shape), they rebuild FULL.
	capture::WriteRebuildMarker(st.relid);
	return true;
}

void CheckReaders(const catalog::StreamTable &st) {
	auto readers = SpiExec("SELECT s.pgt_id, pg_catalog.quote_ident(s.pgt_schema) || '.' || "
	                       "pg_catalog.quote_ident(s.pgt_name), s.defining_query, c.relowner "
	                       "FROM pgtrickle.pgt_dependencies d JOIN pgtrickle.pgt_stream_tables s "
	                       "USING (pgt_id) JOIN pg_catalog.pg_class c ON c.oid = s.pgt_relid "
	                       "WHERE d.source_relid = $1::oid ORDER BY 1",
	                       {std::to_string(st.relid)});
	for (const auto &row : readers.rows) {
		std::string sql = "SELECT * FROM (\n" + *row[2] + "\n) AS __pgt_check LIMIT 0";
		Oid owner = static_cast<Oid>(std::stoul(*row[3]));
		// Each reader's query is planned as its own owner, restricted (never as the caller).
		auto error = bridge::RunInSubtransaction([&] {
			bridge::AsQueryOwner as_reader_owner(owner);
			SpiExec(sql);
		});
		if (error) {
			throw core::Error("2BP01",
			                  "cannot change the query of stream table " + st.Display() +
			                      " because stream table " + *row[1] + " depends on it",
			                  std::string("Its query would fail: ") + error->what() + ".",
			                  "Change or drop " + *row[1] + " first.");
		}
	}
}

void RecordQuery(std::int64_t pgt_id, const analyze::AnalyzedQuery &query,
                 const std::string *original_query) {
	std::vector<std::string> names;
	for (const auto &column : query.columns) {
		names.push_back(column.name);
	}
	bridge::AsExtensionOwner as_owner;
	SpiExec("UPDATE pgtrickle.pgt_stream_tables SET defining_query = $2, defining_tree = $3, "
	        "output_columns = $4::text[], original_query = coalesce($5, original_query), "
	        "updated_at = now() WHERE pgt_id = $1::bigint",
	        {std::to_string(pgt_id), query.text, query.tree, TextArray(names),
	         original_query ? Value(*original_query) : Value()});
	for (const auto &source : query.sources) {
		SpiExec("UPDATE pgtrickle.pgt_dependencies SET columns_used = $3::text[] "
		        "WHERE pgt_id = $1::bigint AND source_relid = $2::oid",
		        {std::to_string(pgt_id), std::to_string(source.relid), TextArray(source.columns)});
	}
}

} // namespace pgtrickle::refresh
