/* Which relay role this node plays (relay.h): decided by relay_listen or relay_connect. */
#include "scepd/relay/relay.h"
#include "util/error_internal.h"

int scepd_relay_start(struct scepd_server *server)
{
    const struct scepd_generation *generation = scepd_generation_acquire(server);
    const struct scep_config_global *global = scep_config_global_values(generation->config);
    int rc = SCEP_OK;
    if (global->relay_listen.count > 0)
        rc = scepd_relay_node_start(server, global);
    else if (global->relay_connect.count > 0)
        rc = scepd_relay_ca_start(server, global);
    scepd_generation_release(generation);
    return rc;
}

void scepd_relay_stop(struct scepd_server *server)
{
    scepd_relay_node_stop(server);
    scepd_relay_ca_stop(server);
}
