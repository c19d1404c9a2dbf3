# Merges the build records of rebuild.yml's jobs (one image on one platform each) into
# the one record `factory publish` and `factory report` read: per image the union of its
# platforms' images and verify/scan verdicts, and the index the wave's merge job made
# from them ($indexes[0]: image id -> {reference, digest}). An image some platform did
# not build keeps that platform's status and reason.
#   jq -s --slurpfile indexes indexes.json -f .ci/merge-records.jq records/*.json
def index($id): $indexes[0][$id] // error("no index for \($id): did its wave's merge job run?");

def merged:
  reduce .[1:][] as $other (.[0];
    .platforms += $other.platforms
    | .images += $other.images
    | .verdicts = reduce ($other.verdicts | to_entries[]) as $stage (.verdicts; .[$stage.key] += $stage.value)
    | if $other.status != "built" then .status = $other.status | .reason = $other.reason else . end)
  | .platforms |= sort
  | if .status == "built" then . + (index(.id) | {reference, digest}) else . end;

(.[0] | del(.targets)) + {targets: ([.[].targets[]] | group_by(.id) | map(merged))}
