// Error type of the pure core: a message plus the SQLSTATE the PostgreSQL layer reports it with.
// The core throws pgtrickle::core::Error; the entry guard (src/bridge) turns it into ereport(ERROR)
// keeping sqlstate, detail and hint.
#pragma once

#include <stdexcept>
#include <string>

namespace pgtrickle::core {

// SQLSTATE codes used by the core (five characters, as in PostgreSQL's errcodes.txt).
inline constexpr const char *kSqlstateInvalidParameterValue = "22023";
inline constexpr const char *kSqlstateInvalidObjectDefinition = "42P17";
inline constexpr const char *kSqlstateFeatureNotSupported = "0A000";
inline constexpr const char *kSqlstateInternalError = "XX000";

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

  private:
	std::string sqlstate_;
	std::string detail_;
	std::string hint_;
};

} // namespace pgtrickle::core
