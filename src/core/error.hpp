// Error type of the pure core: a message plus the SQLSTATE the PostgreSQL layer reports it with.
// The core throws pgtrickle::core::Error; the entry guard (src/bridge) turns it into ereport(ERROR)
// keeping sqlstate, detail and hint, and, for an error that came from PostgreSQL, every other field
// of its ErrorData (ErrorFields), so that a user sees the same report as from PostgreSQL itself.
#pragma once

#include <stdexcept>
#include <string>

namespace pgtrickle::core {

// SQLSTATE codes used by the core (five characters, as in PostgreSQL's errcodes.txt).
inline constexpr const char *kSqlstateInvalidParameterValue = "22023";
inline constexpr const char *kSqlstateInvalidObjectDefinition = "42P17";
inline constexpr const char *kSqlstateFeatureNotSupported = "0A000";
inline constexpr const char *kSqlstateInternalError = "XX000";

// The fields of a PostgreSQL error besides sqlstate, message, detail and hint (see ErrorData in
// utils/elog.h). Empty strings and zero positions mean "not set".
struct ErrorFields {
	std::string detail_log;
	std::string context;
	std::string schema_name;
	std::string table_name;
	std::string column_name;
	std::string datatype_name;
	std::string constraint_name;
	int cursorpos = 0;   // position in the client's query string (1-based)
	int internalpos = 0; // position in internal_query (1-based)
	std::string internal_query;
};

class Error : public std::runtime_error {
  public:
	Error(std::string sqlstate, const std::string &message, std::string detail = {},
	      std::string hint = {})
	    : std::runtime_error(message), sqlstate_(std::move(sqlstate)), detail_(std::move(detail)),
	      hint_(std::move(hint)) {
	}

	const std::string &Sqlstate() const {
		return sqlstate_;
	}
	const std::string &Detail() const {
		return detail_;
	}
	const std::string &Hint() const {
		return hint_;
	}
	const ErrorFields &Fields() const {
		return fields_;
	}
	ErrorFields &MutableFields() {
		return fields_;
	}

  private:
	std::string sqlstate_;
	std::string detail_;
	std::string hint_;
	ErrorFields fields_;
};

} // namespace pgtrickle::core
