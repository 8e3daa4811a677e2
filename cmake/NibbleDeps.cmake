# Third-party C libraries from Debian packages: PCRE2 (tokenizer regexes), SQLite (history),
# utf8proc (Unicode normalization). With NIBBLE_STATIC_RUNTIME their static archives are linked
# so test binaries built on Debian run on other distributions (the GPU machine).
function(nibble_find_c_library target header libname package)
  find_path(${target}_INCLUDE_DIR ${header})
  if(NIBBLE_STATIC_RUNTIME)
    find_library(${target}_LIBRARY NAMES lib${libname}.a ${libname})
  else()
    find_library(${target}_LIBRARY NAMES ${libname})
  endif()
  if(NOT ${target}_INCLUDE_DIR OR NOT ${target}_LIBRARY)
    message(FATAL_ERROR "Nibble: ${header} / lib${libname} not found: install the Debian package ${package} "
                        "(packaging/bootstrap.sh installs every dependency)")
  endif()
  add_library(nibble::${target} UNKNOWN IMPORTED GLOBAL)
  set_target_properties(nibble::${target} PROPERTIES
    IMPORTED_LOCATION "${${target}_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${${target}_INCLUDE_DIR}")
endfunction()

nibble_find_c_library(pcre2 pcre2.h pcre2-8 libpcre2-dev)
set_property(TARGET nibble::pcre2 APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS PCRE2_CODE_UNIT_WIDTH=8)
if(NIBBLE_STATIC_RUNTIME)
  set_property(TARGET nibble::pcre2 APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS PCRE2_STATIC)
endif()
nibble_find_c_library(sqlite3 sqlite3.h sqlite3 libsqlite3-dev)
set_property(TARGET nibble::sqlite3 APPEND PROPERTY INTERFACE_LINK_LIBRARIES Threads::Threads ${CMAKE_DL_LIBS} m)
nibble_find_c_library(utf8proc utf8proc.h utf8proc libutf8proc-dev)
if(NIBBLE_STATIC_RUNTIME)
  set_property(TARGET nibble::utf8proc APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS UTF8PROC_STATIC)
  add_link_options(-static-libstdc++ -static-libgcc)
endif()

# zlib: reading the gzip-compressed evaluation and calibration text.
find_package(ZLIB REQUIRED)
