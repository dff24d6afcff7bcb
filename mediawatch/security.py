"""Who may do what in Elasticsearch: the two roles of mediawatch.

The local test node has no ``.security`` index support (its mapping needs the
missing analysis-common module), so there the roles go into ``roles.yml`` and the
users into the file realm; on a full cluster the same definitions are created
through the security API. One definition serves both.
"""

WRITER_ROLE = "mediawatch_writer"
READER_ROLE = "mediawatch_reader"

ROLES: dict[str, dict] = {
    WRITER_ROLE: {
        "cluster": ["monitor"],
        "indices": [
            {
                "names": ["mediawatch-*"],
                # manage: create versioned indices, refresh, switch aliases on reprocess.
                "privileges": ["read", "write", "create_index", "manage", "view_index_metadata"],
            }
        ],
    },
    READER_ROLE: {
        "cluster": ["monitor"],
        "indices": [{"names": ["mediawatch-*"], "privileges": ["read", "view_index_metadata"]}],
    },
}

ROLE_OF_USER_KIND = {"writer": WRITER_ROLE, "reader": READER_ROLE}
