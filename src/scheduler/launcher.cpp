// Launcher (placeholder until the scheduler lands).
#include "scheduler/launcher.hpp"

namespace pgtrickle::scheduler {

void RegisterLauncher() {
}

} // namespace pgtrickle::scheduler
