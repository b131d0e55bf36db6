#include "commands.h"

int main(int argc, char** argv) { return chaos::cli::chaosctl_main(argc, argv); }
