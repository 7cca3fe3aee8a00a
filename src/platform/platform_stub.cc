#include "w8a8/platform.h"
namespace w8a8 {
const Platform& current_platform() { static Platform p{false,false,false,0,-1,"cpu","stub"}; return p; }
}
