# Compiles bpf/*.bpf.c with clang -target bpf and generates libbpf skeletons with bpftool.
# chaos_bpf_object(NAME SOURCE) produces ${CMAKE_BINARY_DIR}/bpf/NAME.bpf.o and NAME.skel.h,
# and an INTERFACE target bpf_NAME whose include directory holds the skeleton.
find_program(CLANG_BPF NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

function(chaos_bpf_object name source)
  set(out_dir ${CMAKE_BINARY_DIR}/bpf)
  set(obj ${out_dir}/${name}.bpf.o)
  set(skel ${out_dir}/${name}.skel.h)
  file(GLOB bpf_headers ${CMAKE_SOURCE_DIR}/bpf/*.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${CLANG_BPF} -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror
            -I${CMAKE_SOURCE_DIR}/bpf -c ${source} -o ${obj}
    DEPENDS ${source} ${bpf_headers}
    COMMENT "BPF ${name}.bpf.c"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(bpf_${name}_gen DEPENDS ${skel})
  add_library(bpf_${name} INTERFACE)
  add_dependencies(bpf_${name} bpf_${name}_gen)
  target_include_directories(bpf_${name} INTERFACE ${out_dir} ${CMAKE_SOURCE_DIR}/bpf)
endfunction()
