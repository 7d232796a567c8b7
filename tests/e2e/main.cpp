// Entry point of the end-to-end tests: starts one private cluster for the whole binary (a
// GoogleTest global environment) and prints the server log written during any failed test.
#include "cluster.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <iostream>
#include <memory>
#include <string>

namespace pgt::e2e {
namespace {

std::unique_ptr<Cluster> g_cluster;

class ClusterEnvironment : public ::testing::Environment {
  public:
	void SetUp() override {
		g_cluster = std::make_unique<Cluster>();
		try {
			g_cluster->Start();
		} catch (const std::exception &e) {
			GTEST_FAIL() << "could not start the test cluster: " << e.what();
		}
		std::cout << "e2e: cluster running, socket dir " << g_cluster->socket_dir() << ", port "
		          << g_cluster->port() << "\n";
	}
	void TearDown() override {
		g_cluster.reset();
	}
};

// The last `lines` lines of `text`.
std::string Tail(const std::string &text, std::size_t lines) {
	std::size_t pos = text.size();
	if (pos > 0 && text[pos - 1] == '\n')
		--pos;
	for (std::size_t count = 0; pos > 0 && count < lines; ++count) {
		std::size_t nl = text.rfind('\n', pos - 1);
		if (nl == std::string::npos)
			return text;
		pos = nl;
	}
	return pos == 0 ? text : text.substr(pos + 1);
}

// Prints what the server logged while a failed test ran.
class LogOnFailure : public ::testing::EmptyTestEventListener {
  public:
	void OnTestStart(const ::testing::TestInfo &) override {
		offset_ = g_cluster != nullptr ? g_cluster->LogSize() : 0;
	}
	void OnTestEnd(const ::testing::TestInfo &info) override {
		if (g_cluster == nullptr || !info.result()->Failed())
			return;
		std::cout << "---- server log during " << info.test_suite_name() << "." << info.name()
		          << " (last 100 lines) ----\n"
		          << Tail(g_cluster->LogSince(offset_), 100) << "---- end of server log ----\n";
	}

  private:
	std::size_t offset_ = 0;
};

} // namespace

Cluster &GlobalCluster() {
	if (g_cluster == nullptr)
		throw std::runtime_error("the test cluster is not running");
	return *g_cluster;
}

} // namespace pgt::e2e

int main(int argc, char **argv) {
	::testing::InitGoogleTest(&argc, argv);
	::testing::AddGlobalTestEnvironment(new pgt::e2e::ClusterEnvironment);
	::testing::UnitTest::GetInstance()->listeners().Append(new pgt::e2e::LogOnFailure);
	return RUN_ALL_TESTS();
}
