# SPDX-License-Identifier: MIT
# Servers and middlemen that must not be trusted with session locks: a
# transaction-mode pooler, a hot standby, ODBC driver-manager pooling; and
# failover to that standby once promoted.
# Included by tests/faults/CMakeLists.txt.
add_executable(pool_client ${CMAKE_CURRENT_SOURCE_DIR}/pool_client.c
               ${CMAKE_CURRENT_SOURCE_DIR}/pool_check.c)
target_link_libraries(pool_client PRIVATE sqllock PkgConfig::LIBPQ)

sqllock_fault_script(pgbouncer TIMEOUT 60)
sqllock_fault_script(standby TIMEOUT 60)

# Failover to a promoted standby; the workload and checker are history.cmake's.
add_executable(failover_client ${CMAKE_CURRENT_SOURCE_DIR}/failover_client.c)
target_link_libraries(failover_client PRIVATE sqllock_history sqllock_testsupport)
sqllock_fault_script(failover TIMEOUT 120)
add_executable(hung_host ${CMAKE_CURRENT_SOURCE_DIR}/hung_host.c)
target_link_libraries(hung_host PRIVATE sqllock_testsupport)
sqllock_fault_script(hung_host TIMEOUT 60)

if(SQLLOCK_WITH_ODBC)
  add_executable(pool_odbc ${CMAKE_CURRENT_SOURCE_DIR}/pool_odbc.c
                 ${CMAKE_CURRENT_SOURCE_DIR}/pool_check.c)
  target_link_libraries(pool_odbc PRIVATE sqllock PkgConfig::LIBPQ PkgConfig::ODBC)
  sqllock_fault_script(odbc_pool TIMEOUT 60)
endif()
