# Warning flags shared by every C++ target of the project (not applied to CUDA device code).
add_library(nibble_warnings INTERFACE)
target_compile_options(nibble_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers>)
