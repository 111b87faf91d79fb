package io.floe.bench;

import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.connector.datagen.source.GeneratorFunction;

/** The source's generator: event i → its word (Keys). Words are precomputed once per JVM in open(). */
public final class WordGenerator implements GeneratorFunction<Long, String> {
  private static final long serialVersionUID = 1L;
  private final String distribution;
  private final int keys;
  private final long seed;
  private transient Keys gen;
  private transient String[] words;

  public WordGenerator(String distribution, int keys, long seed) {
    this.distribution = distribution;
    this.keys = keys;
    this.seed = seed;
  }

  @Override
  public void open(SourceReaderContext readerContext) {
    gen = new Keys(distribution, keys, seed);
    words = Keys.words(keys);
  }

  @Override
  public String map(Long i) {
    return words[gen.index(i)];
  }
}
