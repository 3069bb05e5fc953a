/* Stand-in for libcap's <sys/capability.h>, written for codex-launcher.
 *
 * bubblewrap needs only cap_value_t, cap_from_name() and the capget/capset syscall wrappers (which glibc
 * exports itself). Supplying them here means building needs no libcap-dev and the binary needs no libcap.
 * Names are matched like libcap does: case-insensitive, with or without the "cap_" prefix, or a number. */
#pragma once
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef int cap_value_t;

extern int capget (cap_user_header_t header, cap_user_data_t data);
extern int capset (cap_user_header_t header, const cap_user_data_t data);

static const char *const codex_launcher_cap_names[] = {
  "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
  "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
  "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
  "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
  "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
  "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
};

static inline int
cap_from_name (const char *name, cap_value_t *value)
{
  size_t count = sizeof (codex_launcher_cap_names) / sizeof (codex_launcher_cap_names[0]);
  char *end = NULL;
  long number;

  if (name == NULL || *name == '\0')
    return -1;
  if (strncasecmp (name, "cap_", 4) == 0)
    name += 4;
  for (size_t i = 0; i < count; i++)
    if (strcasecmp (name, codex_launcher_cap_names[i]) == 0)
      {
        *value = (cap_value_t) i;
        return 0;
      }
  number = strtol (name, &end, 10);
  if (end != name && *end == '\0' && number >= 0 && number <= CAP_LAST_CAP)
    {
      *value = (cap_value_t) number;
      return 0;
    }
  return -1;
}
