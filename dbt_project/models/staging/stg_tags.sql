-- Raw `tags` typed (see stg_projects).
select
    cast(id as {{ dbt.type_bigint() }}) as id,
    cast(tag as {{ dbt.type_string() }}) as tag
from {{ source('madewithml', 'tags') }}
