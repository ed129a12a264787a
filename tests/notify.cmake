# Bucket notifications through a real mount (radosgw pushes to the daemon).
find_program(PYTHON3 python3 REQUIRED)
mpfs_integration_test(mount_notify TIMEOUT 300
  COMMAND ${PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/integration/test_notify.py)
# ... and over AMQP (RabbitMQ of scripts/stack.sh); 77 = skipped when the
# store has no broker.
mpfs_integration_test(mount_notify_amqp TIMEOUT 300
  COMMAND ${PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/integration/test_notify_amqp.py)
set_tests_properties(mount_notify_amqp PROPERTIES SKIP_RETURN_CODE 77)
