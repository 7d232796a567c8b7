// Identity comparison of two queries' results (see identity.hpp).
#include "identity.hpp"

#include <sstream>

namespace pgt::e2e {

std::string IdentityDiff(Conn &conn, const std::string &left, const std::string &right, int limit) {
	Rows rows = conn.Query("SELECT coalesce(l.r, r.r), coalesce(l.n, 0), coalesce(r.n, 0) FROM "
	                       "(SELECT __o::text COLLATE \"C\" AS r, count(*) AS n FROM (" +
	                       left +
	                       ") __o GROUP BY 1) l FULL JOIN "
	                       "(SELECT __o::text COLLATE \"C\" AS r, count(*) AS n FROM (" +
	                       right +
	                       ") __o GROUP BY 1) r ON l.r = r.r "
	                       "WHERE l.n IS DISTINCT FROM r.n ORDER BY 1 LIMIT " +
	                       std::to_string(limit));
	std::ostringstream out;
	for (const auto &row : rows) {
		out << "  stream table has " << *row[1] << ", query has " << *row[2] << ": " << *row[0]
		    << "\n";
	}
	return out.str();
}

} // namespace pgt::e2e
