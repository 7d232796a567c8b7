// The registry of supported constructs (src/core/constructs.cpp) and the support table generated
// from it into docs/sql-reference.md.
#include "core/constructs.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace pgtrickle::core {
namespace {

TEST(Constructs, EveryEntryIsComplete) {
	std::set<std::string> examples;
	for (const Construct &c : SupportedConstructs()) {
		EXPECT_NE(std::string(c.category), "");
		EXPECT_NE(std::string(c.construct), "");
		EXPECT_NE(std::string(c.op_or_refusal), "") << c.construct;
		EXPECT_NE(std::string(c.file), "") << c.construct;
		EXPECT_NE(std::string(c.how), "") << c.construct;
		EXPECT_TRUE(examples.insert(c.example).second)
		    << "two entries share the example " << c.example;
	}
}

TEST(Constructs, ExtractFindsTheLinesBetweenTheMarkers) {
	std::string doc = std::string("before\n") + kSupportTableBegin + "\n| a |\n| b |\n" +
	                  kSupportTableEnd + "\nafter\n";
	EXPECT_EQ(ExtractSupportTable(doc), "| a |\n| b |\n");
	EXPECT_THROW(ExtractSupportTable("no markers\n"), std::runtime_error);
}

#ifdef PGT_SOURCE_DIR
// The table in the docs is the one the registry renders: run scripts/gen_support_table.sh after
// changing src/core/constructs.cpp.
TEST(Constructs, DocsTableMatchesTheRegistry) {
	const std::string path = std::string(PGT_SOURCE_DIR) + "/docs/sql-reference.md";
	std::ifstream in(path);
	ASSERT_TRUE(in) << "cannot read " << path;
	std::stringstream text;
	text << in.rdbuf();
	EXPECT_EQ(ExtractSupportTable(text.str()), RenderSupportTable())
	    << path << " is out of date: run scripts/gen_support_table.sh";
}
#endif

} // namespace
} // namespace pgtrickle::core
