-- Projects with their tag: the training table of the Made With ML course.
-- Plain ANSI SQL so the BigQuery target runs it unchanged.
select
    projects.id,
    projects.created_on,
    projects.title,
    projects.description,
    tags.tag
from {{ ref('stg_projects') }} as projects
left join {{ ref('stg_tags') }} as tags
    on projects.id = tags.id
