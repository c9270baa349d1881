/*
 * signal_slot.h - umbrella header of signal-slot: Qt-like event loops,
 * signals and slots across threads and processes, on a fast shared-memory
 * message queue. Include this one header; the pieces live in signal_slot/.
 */
#ifndef SIGNAL_SLOT_H
#define SIGNAL_SLOT_H

#include "signal_slot/version.h"
#include "signal_slot/error.h"
#include "signal_slot/log.h"
#include "signal_slot/queue.h"
#include "signal_slot/loop.h"
#include "signal_slot/process.h"
#include "signal_slot/payload.h"
#include "signal_slot/registry.h"

#endif /* SIGNAL_SLOT_H */
