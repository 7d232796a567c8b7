// Prints the support table of docs/sql-reference.md, generated from the registry of
// src/core/constructs.cpp (used by scripts/gen_support_table.sh).
#include "core/constructs.hpp"

#include <iostream>

int main() {
	std::cout << pgtrickle::core::RenderSupportTable();
	return 0;
}
