/*
 * paths.h — where things live, one place for the shim, daemon and CLI.
 *   socket : $TOLLGATE_SOCKET, else root: /run/tollgate/tollgate.sock,
 *            else $XDG_RUNTIME_DIR/tollgate/tollgate.sock,
 *            else /tmp/tollgate-UID/tollgate.sock
 *   state  : $TOLLGATE_STATE_DIR, else root: /var/lib/tollgate,
 *            else $XDG_STATE_HOME/tollgate,
 *            else ~/.local/state/tollgate   (ledger: STATE/ledger.db)
 *   spool  : $TOLLGATE_SPOOL_DIR, else STATE/spool (per uid by construction)
 *   policy : root: /etc/tollgate/policy.json, else
 *            $XDG_CONFIG_HOME/tollgate/policy.json,
 *            else ~/.config/tollgate/policy.json (the daemon's default
 *            when no --policy is given; `policy apply` writes it)
 *   price overrides: /etc/tollgate/prices.json
 *   prices : $TOLLGATE_PRICES, else EXE_DIR/../share/tollgate/prices.json,
 *            else EXE_DIR/../policies/prices.json (a build tree)
 * Each returns 0, or -1 when the result would not fit in size.
 * None allocates; safe in the shim.
 */
#ifndef TG_PATHS_H
#define TG_PATHS_H

#include <stddef.h>

#define TG_DEFAULT_POLICY "/etc/tollgate/policy.json"
#define TG_DEFAULT_PRICE_OVERRIDES "/etc/tollgate/prices.json"

int tg_path_socket(char *buf, size_t size);
int tg_path_state_dir(char *buf, size_t size);
int tg_path_spool_dir(char *buf, size_t size);
int tg_path_prices(char *buf, size_t size); /* first that exists, else -1 */
int tg_path_policy(char *buf, size_t size);

/* mkdir -p with mode for each created level. 0 or -1 (errno). */
int tg_mkdirs(const char *path, unsigned mode);

#endif
