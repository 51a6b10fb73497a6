# GPTOSS_SANITIZE=address,undefined (any list -fsanitize= takes) builds every program and test of
# this tree with those sanitizers. Errors abort instead of printing and going on, so a test that
# trips one fails.
set(GPTOSS_SANITIZE "" CACHE STRING "Sanitizers for the whole build, e.g. address,undefined")
if(GPTOSS_SANITIZE)
  add_compile_options(-fsanitize=${GPTOSS_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${GPTOSS_SANITIZE})
endif()
