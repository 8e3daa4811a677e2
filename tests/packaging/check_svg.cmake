# Fails unless FILE is an SVG document with a viewBox (a scalable app icon).
file(READ "${FILE}" content)
if(NOT content MATCHES "<svg[^>]*viewBox=")
  message(FATAL_ERROR "${FILE} is not an SVG with a viewBox")
endif()
