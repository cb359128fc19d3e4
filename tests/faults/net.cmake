# SPDX-License-Identifier: MIT
# Network and session faults (included by CMakeLists.txt in this directory):
# a silent partition, the server's idle timeouts, and the race between a
# release and the end of a wait.
add_executable(net_client net_client.c)
target_link_libraries(net_client PRIVATE sqllock_history sqllock Threads::Threads)
sqllock_fault_script(partition TIMEOUT 150)

add_executable(test_idle test_idle.c)
target_link_libraries(test_idle PRIVATE sqllock_testsupport)
sqllock_fault_script(idle TIMEOUT 60)

add_executable(test_race test_race.c)
target_link_libraries(test_race PRIVATE sqllock_testsupport)
sqllock_fault_script(race TIMEOUT 120)
