#include "initiator/wire.h"
