# NIBBLE_SANITIZE=address,undefined instruments every C/C++ target (host code only).
if(NIBBLE_SANITIZE)
  set(_nibble_san "-fsanitize=${NIBBLE_SANITIZE}")
  add_compile_options($<$<COMPILE_LANGUAGE:CXX,C>:${_nibble_san}> $<$<COMPILE_LANGUAGE:CXX,C>:-fno-omit-frame-pointer>
                      $<$<COMPILE_LANGUAGE:CXX,C>:-fno-sanitize-recover=undefined>)
  add_link_options(${_nibble_san})
  message(STATUS "Nibble: sanitizers enabled: ${NIBBLE_SANITIZE}")
endif()
