#include "initiator/identify.h"
