"""The tag service's documented rules (tag 2018-08-13 API docs; tag restrictions, docs 651/13354)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from openclb import errors

MAX_KEY_LENGTH = 127  # "a tag key ... up to 127 characters"
MAX_VALUE_LENGTH = 255  # "a tag value ... up to 255 characters"
MAX_TAGS_PER_RESOURCE = 50  # "each resource can be bound to up to 50 tags"
MAX_RESOURCES_PER_CALL = 10  # TagResources/UnTagResources ResourceList: "Value range of N: 0-9"
MAX_TAGS_PER_CALL = 10  # TagResources Tags / UnTagResources TagKeys: "Value range of N: 0-9"
MAX_RESOURCE_IDS = 50  # DescribeResourceTagsByResourceIds: "Array of resource IDs (up to 50)"
MAX_TAG_FILTERS = 6  # GetResources TagFilters: "Value range of N: 0–5"
MAX_FILTER_VALUES = 10  # "There can be up to 10 `TagValues` in each `TagFilters`"
MAX_TAG_KEYS_ASKED = 20  # GetTagValues TagKeys: "Maximum length: 20"
CATEGORIES = ("Custom", "System", "All")
RESERVED_PREFIXES = ("qcloud", "tencent", "project")  # "system reserved tag keys qcloud, tencent and project"
# Letters and digits of any script, spaces and + - = . _ : / @ ( ) [ ] and their full-width forms.
_TAG_TEXT = re.compile(r"[\w +\-=._:/@()\[\]（）【】]*")


def check_tag(key: str, value: str) -> None:
    """A tag key: 1-127 permitted characters, no reserved prefix; a value: 0-255 permitted characters."""
    if not key:
        raise errors.InvalidParameterValueTagKeyEmpty("A tag key cannot be empty.")
    if len(key) > MAX_KEY_LENGTH:
        raise errors.InvalidParameterValueTagKeyLengthExceeded(f"A tag key has at most {MAX_KEY_LENGTH} characters.")
    if not _TAG_TEXT.fullmatch(key):
        raise errors.InvalidParameterValueTagKeyCharacterIllegal(f"The tag key `{key}` has a character not permitted.")
    if key.lower().startswith(RESERVED_PREFIXES):
        raise errors.InvalidParameterValueReservedTagKey(f"The tag key `{key}` starts with a reserved prefix.")
    if len(value) > MAX_VALUE_LENGTH:
        raise errors.InvalidParameterValueTagValueLengthExceeded(
            f"A tag value has at most {MAX_VALUE_LENGTH} characters.")
    if not _TAG_TEXT.fullmatch(value):
        raise errors.InvalidParameterValueTagValueCharacterIllegal(
            f"The tag value `{value}` has a character not permitted.")


def check_tags(tags: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Tags given as ``[{tag_key, tag_value}]``: each valid, no key twice; returned as a mapping."""
    keys = [tag["tag_key"] for tag in tags]
    if len(set(keys)) != len(keys):
        raise errors.InvalidParameterValueTagKeyDuplicate("A tag key appears twice in the request.")
    for tag in tags:
        check_tag(tag["tag_key"], tag["tag_value"])
    return {tag["tag_key"]: tag["tag_value"] for tag in tags}


def check_resource_count(names: Sequence[str], limit: int = MAX_RESOURCES_PER_CALL) -> None:
    if not names or len(names) > limit:
        raise errors.LimitExceededResourceNumPerRequest(f"Give between 1 and {limit} resources.")


def check_tag_count(count: int, limit: int = MAX_TAGS_PER_CALL) -> None:
    if not 1 <= count <= limit:
        raise errors.LimitExceededTagNumPerRequest(f"Give between 1 and {limit} tags.")


def check_attached_count(resource: str, tags: dict[str, str]) -> None:
    """No resource carries more than 50 tags (LimitExceeded.ResourceAttachedTags)."""
    if len(tags) > MAX_TAGS_PER_RESOURCE:
        raise errors.LimitExceededResourceAttachedTags(
            f"`{resource}` would carry {len(tags)} tags; the limit is {MAX_TAGS_PER_RESOURCE}.")


def check_modification(replace_tags: Sequence[dict[str, Any]] | None, delete_keys: Sequence[str] | None) -> None:
    """ModifyResourceTags "must contain either ReplaceTags or DeleteTags", DeleteTags "cannot be an empty
    array", and the two "cannot include the same tag keys"."""
    if replace_tags is None and delete_keys is None:
        raise errors.MissingParameter("The request must give `ReplaceTags` or `DeleteTags`.")
    if delete_keys is not None and not delete_keys:
        raise errors.InvalidParameter("`DeleteTags` cannot be an empty array.")
    if set(delete_keys or ()) & {tag["tag_key"] for tag in replace_tags or ()}:
        raise errors.InvalidParameterValueDeleteTagsParamError("`DeleteTags` names a key `ReplaceTags` also sets.")


def check_tag_filters(filters: Sequence[dict[str, Any]]) -> None:
    if len(filters) > MAX_TAG_FILTERS:
        raise errors.InvalidParameterValueTagFiltersLengthExceeded(f"At most {MAX_TAG_FILTERS} `TagFilters`.")
    for item in filters:
        if not item["tag_key"] or len(item.get("tag_value") or ()) > MAX_FILTER_VALUES:
            raise errors.InvalidParameterValueTagFilters(
                f"A tag filter needs a key and at most {MAX_FILTER_VALUES} values.")


def check_category(category: str | None) -> None:
    if category is not None and category not in CATEGORIES:
        raise errors.InvalidParameterValue(f"`Category` must be one of {', '.join(CATEGORIES)}.")


def shows_custom_tags(category: str | None) -> bool:
    """Every tag openclb keeps is a custom one (set by a user): ``Category`` System shows none."""
    return category != "System"


def check_page_size(name: str, value: int | None, limit: int) -> None:
    if value is not None and value > limit:
        raise errors.InvalidParameterValue(f"`{name}` is at most {limit}.")


def check_offset(offset: int, limit: int) -> None:
    """"Must be an integral multiple of the `Limit` parameter" (InvalidParameterValue.OffsetInvalid)."""
    if limit and offset % limit:
        raise errors.InvalidParameterValueOffsetInvalid(f"`Offset` {offset} is not a multiple of `Limit` {limit}.")


def pagination_start(token: str | None) -> int:
    """Where a page starts: the token is the position openclb gave out on the page before."""
    if not token:
        return 0
    if not token.isdigit() or len(token) > 9:
        raise errors.InvalidParameterPaginationTokenInvalid("The `PaginationToken` was not given out by this API.")
    return int(token)
