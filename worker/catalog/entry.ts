/** Turns a stored ContainerRecord into a catalog entry (original fields + ours). */
import type { CatalogEntry, SignatureSummaryEntry, SourceInfo } from "../../shared/catalog";
import type { ContainerRecord } from "../storage/record";

export function containerPath(name: string): string {
  return `/api/v1/containers/${encodeURIComponent(name)}`;
}

export function entryFromRecord(name: string, r: ContainerRecord, origin: string, source: SourceInfo, updatedAt?: Date, signatures: SignatureSummaryEntry[] = []): CatalogEntry {
  const path = containerPath(name);
  return {
    id: name,
    name,
    path,
    size: r.size,
    kernel_version: r.kernel_version,
    distro: r.distro,
    architecture: r.arch,
    visual_description: r.description,
    detected_objects: [],
    thumbnail: "",
    position: { x: 0, y: 0 },
    hash: r.sha256,
    sha256: r.sha256,
    data_hash: r.data_hash,
    data_size: r.data_size,
    grid_size: r.grid_size,
    type: r.type,
    description: r.description,
    content_version: r.content_version,
    segments: r.segments,
    url: origin + path,
    blob_url: `${origin}/blobs/sha256/${r.sha256}`,
    thumbnail_url: r.thumb ? `${origin}${path}/thumbnail` : null,
    etag: r.blob_etag ?? null,
    updated_at: r.published_at ?? updatedAt?.toISOString() ?? null,
    source,
    signatures,
  };
}
