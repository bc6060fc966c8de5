-- Raw `projects` typed: Airbyte lands ids as numbers and timestamps as strings and adds its
-- `_airbyte_*` columns; the built-in loader lands them typed, and these casts change nothing.
select
    cast(id as {{ dbt.type_bigint() }}) as id,
    cast(created_on as {{ dbt.type_timestamp() }}) as created_on,
    cast(title as {{ dbt.type_string() }}) as title,
    cast(description as {{ dbt.type_string() }}) as description
from {{ source('madewithml', 'projects') }}
